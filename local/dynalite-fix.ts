import { createRequire } from 'node:module';

/**
 * Two mends to dynalite 4 over abstract-level 3, both on the iterator prototype:
 *
 * 1. dynalite ends a Query's iterator with `iterator.return()`, which abstract-level 3 iterators
 *    lack, so no iterator was ever closed: each kept its cached items in the database's resource
 *    set, and the local runtime's memory grew with every Query. `return()` now closes it.
 *
 * 2. dynalite reads ahead on its LevelDB value streams: when a Query stops early (end of a
 * begins_with range), a pending read can hit the iterator dynalite already closed, and the
 * resulting LEVEL_ITERATOR_NOT_OPEN surfaces as an uncaught exception that would kill the local
 * runtime. A read from a closed iterator simply means "no more items", so answer that.
 */
const require = createRequire(import.meta.url);
const { AbstractValueIterator } = require('abstract-level') as { AbstractValueIterator: { prototype: object } };
const common = Object.getPrototypeOf(AbstractValueIterator.prototype) as {
  next: (...args: unknown[]) => Promise<unknown>;
  return?: () => Promise<void>;
  patchedForFenix?: boolean;
};
if (!common.patchedForFenix) {
  common.return ??= function (this: { close: () => Promise<void> }) {
    return this.close();
  };
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
