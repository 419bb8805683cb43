import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import draft4 from 'ajv-draft-04';
import formats from 'ajv-formats';

/**
 * The JSON Schema validators the contract tests share: Ajv in strict mode, so a schema with an
 * unknown keyword or a malformed one throws when it compiles, with the formats our schemas name
 * (uuid, uri) checked rather than ignored.
 */

// CommonJS packages: under NodeNext their default import is `module.exports`, which also carries `.default`.
const addFormats = formats.default;
const Ajv04 = draft4.default;

/** JSON Schema 2020-12: docs/events/*.json and the OpenAPI 3.1 schemas. */
export const ajv2020 = (): Ajv2020 => {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv;
};

/** JSON Schema draft 4, as the EventBridge schema registry takes it. */
export const ajvDraft4 = (): InstanceType<typeof Ajv04> => {
  const ajv = new Ajv04({ strict: true, allErrors: true });
  // ajv-draft-04 also understands these later keywords; draft 4 (and so the registry) does not, so they
  // are made unknown here and strict mode refuses a schema that uses them.
  for (const keyword of ['const', 'propertyNames', 'contains', 'if', 'then', 'else', '$defs', 'nullable'])
    ajv.removeKeyword(keyword);
  addFormats(ajv);
  return ajv;
};

/** What is wrong with `value` by `validate`, one line per error; [] when it conforms. */
export const problems = (validate: ValidateFunction, value: unknown): string[] =>
  validate(value)
    ? []
    : (validate.errors ?? []).map(
        (error) => `${error.instancePath || '/'} ${error.message ?? error.keyword} ${JSON.stringify(error.params)}`,
      );

/** A JSON pointer to `segments`, escaped (`/paths/~1v1~1maintenance/get`). */
export const pointer = (...segments: string[]): string =>
  segments.map((segment) => `/${segment.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

const OPENAPI_ID = 'openapi.json';

/**
 * One Ajv holding a whole OpenAPI document, so a schema anywhere in it (a component, or one inline in
 * a response) compiles with its `$ref`s resolved. Returns the validator for the schema at a pointer.
 */
export const openApiSchemas = (document: Record<string, unknown>): ((at: string) => ValidateFunction) => {
  const ajv = ajv2020();
  // The document's root fields (openapi, info, paths, components…) are not schema keywords: declared as
  // such, the document can be the root its `$ref`s resolve in, and strict mode still checks every schema in it.
  ajv.addVocabulary(Object.keys(document));
  ajv.addSchema({ ...document, $id: OPENAPI_ID });
  return (at) => {
    const validate = ajv.getSchema(`${OPENAPI_ID}#${at}`);
    if (!validate) throw new Error(`no schema at ${at} in the OpenAPI document`);
    return validate;
  };
};
