import { createRequire } from 'node:module';

/**
 * Diagnostic only (`--close-level-iterators`), not used by default: dynalite 4's streams end an
 * abstract-level iterator with `iterator.return()`, which abstract-level 3 iterators do not have,
 * so no Query/Scan iterator is ever closed; each stays in ClassicLevel's resource set with its
 * cached items (memory grows with every Query). Giving iterators a `return()` that closes them
 * shows what the local runtime costs without the leak.
 */
export const closeLevelIterators = (): void => {
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const fromLevel = createRequire(fromDynalite.resolve('level'));
  const fromClassic = createRequire(fromLevel.resolve('classic-level'));
  const { AbstractIterator } = fromClassic('abstract-level') as { AbstractIterator: { prototype: object } };
  const common = Object.getPrototypeOf(AbstractIterator.prototype) as { return?: () => Promise<void> };
  common.return ??= function (this: { close: () => Promise<void> }) {
    return this.close();
  };
};
