import { createRequire } from 'node:module';

/**
 * dynalite 4 reads ahead on its LevelDB value streams: when a Query stops early (end of a
 * begins_with range), a pending read can hit the iterator dynalite already closed, and the
 * resulting LEVEL_ITERATOR_NOT_OPEN surfaces as an uncaught exception that would kill the local
 * runtime. A read from a closed iterator simply means "no more items", so answer that.
 */
const require = createRequire(import.meta.url);
const { AbstractValueIterator } = require('abstract-level') as { AbstractValueIterator: { prototype: object } };
const common = Object.getPrototypeOf(AbstractValueIterator.prototype) as { next: (...args: unknown[]) => Promise<unknown>; patchedForFenix?: boolean };
if (!common.patchedForFenix) {
  const next = common.next;
  common.next = async function (this: unknown, ...args: unknown[]) {
    try {
      return await next.apply(this, args);
    } catch (error) {
      if ((error as { code?: string }).code === 'LEVEL_ITERATOR_NOT_OPEN') return undefined;
      throw error;
    }
  };
  common.patchedForFenix = true;
}
export {};
