import { ValidationError } from '../core/errors.js';

/** Deeper nesting than this is refused: no legitimate body comes close, and it bounds parser work. */
export const MAX_JSON_DEPTH = 32;

/**
 * JSON.parse keeps the last of duplicate keys silently, so `{"state":"ACK_X","state":"NACK_X"}`
 * would mean different things to different parsers. This scan refuses duplicates and deep nesting
 * before parsing; it relies on JSON.parse for everything else (syntax errors included).
 */
export const parseStrictJson = (text: string): unknown => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError('body is not valid JSON');
  }
  checkKeys(text);
  return value;
};

const checkKeys = (text: string): void => {
  const stack: (Set<string> | null)[] = []; // a Set for an object, null for an array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top && expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.has(key)) throw new ValidationError(`body has the key "${key}" more than once in one object`);
        top.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      stack.push(c === '{' ? new Set() : null);
      if (stack.length > MAX_JSON_DEPTH)
        throw new ValidationError(`body is nested deeper than ${MAX_JSON_DEPTH} levels`);
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
};
