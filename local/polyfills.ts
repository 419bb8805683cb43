/**
 * aws-local-stepfunctions calls Promise.withResolvers (ES2024, Node 22) in every Task state; Node 20
 * lacks it. Imported before the library, and harmless on Node 22 where the native one is kept.
 */
type Resolvers = { promise: Promise<unknown>; resolve: (value: unknown) => void; reject: (reason?: unknown) => void };
const promiseCtor = Promise as unknown as { withResolvers?: () => Resolvers };
if (typeof promiseCtor.withResolvers !== 'function') {
  promiseCtor.withResolvers = () => {
    let resolve!: Resolvers['resolve'];
    let reject!: Resolvers['reject'];
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export {};
