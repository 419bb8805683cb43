/**
 * A small JSON Schema toolkit for the contract tests, written out so the tests depend on no
 * validator package: `validate` checks a value against the keyword subset our documents use (and
 * refuses any other keyword, so a document cannot silently use more than is checked), `checkSchema`
 * checks that a schema is well-formed 2020-12 (or draft 4), and `checkOpenApi` the structure of an
 * OpenAPI 3.1 document with every `$ref` resolved.
 */

type Json = Record<string, unknown>;

const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$comment',
  'title',
  'description',
  'default',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$defs',
  'definitions',
]);
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'array', 'object']);

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Resolves a local JSON pointer (`#/components/schemas/X`) in `root`. */
export const resolvePointer = (root: unknown, ref: string): unknown => {
  if (!ref.startsWith('#')) throw new Error(`only local $refs are supported: ${ref}`);
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').filter(Boolean)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
};

const typeOf = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
};

const FORMATS: Record<string, (text: string) => boolean> = {
  uuid: (text) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text),
  uri: (text) => {
    try {
      return Boolean(new URL(text).protocol);
    } catch {
      return false;
    }
  },
};

const deepEqual = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Errors of `value` against `schema` ("path: problem"); empty when it conforms. */
export const validate = (schema: unknown, value: unknown, root: unknown = schema, path = '$'): string[] => {
  if (schema === true) return [];
  if (schema === false) return [`${path}: no value is allowed here`];
  if (!isObject(schema)) return [`${path}: schema is not an object`];
  const errors: string[] = [];
  for (const [keyword, arg] of Object.entries(schema)) {
    if (ANNOTATIONS.has(keyword) || keyword.startsWith('x-')) continue;
    switch (keyword) {
      case '$ref': {
        const target = resolvePointer(root, arg as string);
        if (target === undefined) errors.push(`${path}: unresolved $ref ${String(arg)}`);
        else errors.push(...validate(target, value, root, path));
        break;
      }
      case 'type': {
        const allowed = Array.isArray(arg) ? (arg as string[]) : [arg as string];
        const actual = typeOf(value);
        if (!allowed.includes(actual) && !(actual === 'integer' && allowed.includes('number')))
          errors.push(`${path}: expected ${allowed.join(' or ')}, got ${actual}`);
        break;
      }
      case 'enum':
        if (!(arg as unknown[]).some((option) => deepEqual(option, value)))
          errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(arg)}`);
        break;
      case 'const':
        if (!deepEqual(arg, value))
          errors.push(`${path}: expected ${JSON.stringify(arg)}, got ${JSON.stringify(value)}`);
        break;
      case 'properties':
        if (isObject(value)) {
          for (const [name, sub] of Object.entries(arg as Json))
            if (name in value) errors.push(...validate(sub, value[name], root, `${path}.${name}`));
        }
        break;
      case 'required':
        if (isObject(value))
          for (const name of arg as string[]) if (!(name in value)) errors.push(`${path}: missing required ${name}`);
        break;
      case 'additionalProperties':
        if (isObject(value)) {
          const known = new Set(Object.keys((schema.properties as Json | undefined) ?? {}));
          for (const [name, sub] of Object.entries(value)) {
            if (known.has(name)) continue;
            if (arg === false) errors.push(`${path}: unexpected property ${name}`);
            else errors.push(...validate(arg, sub, root, `${path}.${name}`));
          }
        }
        break;
      case 'propertyNames':
        if (isObject(value))
          for (const name of Object.keys(value)) errors.push(...validate(arg, name, root, `${path}[key ${name}]`));
        break;
      case 'items':
        if (Array.isArray(value))
          value.forEach((item, index) => errors.push(...validate(arg, item, root, `${path}[${index}]`)));
        break;
      case 'minItems':
        if (Array.isArray(value) && value.length < (arg as number)) errors.push(`${path}: fewer than ${arg} items`);
        break;
      case 'maxItems':
        if (Array.isArray(value) && value.length > (arg as number)) errors.push(`${path}: more than ${arg} items`);
        break;
      case 'minLength':
        if (typeof value === 'string' && [...value].length < (arg as number))
          errors.push(`${path}: shorter than ${arg}`);
        break;
      case 'maxLength':
        if (typeof value === 'string' && [...value].length > (arg as number))
          errors.push(`${path}: longer than ${arg}`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(arg as string, 'u').test(value))
          errors.push(`${path}: ${JSON.stringify(value)} does not match ${arg}`);
        break;
      case 'format':
        if (typeof value === 'string' && FORMATS[arg as string] && !FORMATS[arg as string]?.(value))
          errors.push(`${path}: not a ${arg}: ${value}`);
        break;
      case 'minimum':
        if (typeof value === 'number' && value < (arg as number)) errors.push(`${path}: below ${arg}`);
        break;
      case 'maximum':
        if (typeof value === 'number' && value > (arg as number)) errors.push(`${path}: above ${arg}`);
        break;
      case 'exclusiveMinimum':
        if (typeof value === 'number' && value <= (arg as number)) errors.push(`${path}: not above ${arg}`);
        break;
      case 'exclusiveMaximum':
        if (typeof value === 'number' && value >= (arg as number)) errors.push(`${path}: not below ${arg}`);
        break;
      case 'allOf':
        for (const sub of arg as unknown[]) errors.push(...validate(sub, value, root, path));
        break;
      case 'anyOf':
        if (!(arg as unknown[]).some((sub) => validate(sub, value, root, path).length === 0)) {
          errors.push(
            `${path}: matches none of anyOf (${(arg as unknown[]).map((sub) => validate(sub, value, root, path)[0]).join(' / ')})`,
          );
        }
        break;
      case 'oneOf': {
        const matches = (arg as unknown[]).filter((sub) => validate(sub, value, root, path).length === 0).length;
        if (matches !== 1) {
          const why = matches
            ? `${matches} branches`
            : (arg as unknown[]).map((sub) => validate(sub, value, root, path)[0]).join(' / ');
          errors.push(`${path}: must match exactly one of oneOf, matches ${why}`);
        }
        break;
      }
      case 'not':
        if (validate(arg, value, root, path).length === 0) errors.push(`${path}: matches a "not" schema`);
        break;
      default:
        errors.push(`${path}: keyword ${keyword} is not supported by this validator`);
    }
  }
  return errors;
};

// ---------------------------------------------------------------- schema well-formedness

const SCHEMA_MAPS = new Set(['properties', '$defs', 'definitions', 'patternProperties', 'dependentSchemas']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
const SUBSCHEMAS = new Set([
  'additionalProperties',
  'propertyNames',
  'items',
  'not',
  'contains',
  'if',
  'then',
  'else',
  'unevaluatedProperties',
  'unevaluatedItems',
]);
const NUMBERS = new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf']);
const COUNTS = new Set([
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'minContains',
  'maxContains',
]);
const OTHERS = new Set([
  '$ref',
  'type',
  'enum',
  'const',
  'required',
  'pattern',
  'format',
  'uniqueItems',
  'contentEncoding',
  'contentMediaType',
]);
/** Draft 4 has no `const`, `propertyNames`, `contains`, `if`, `$defs`…, and boolean exclusive bounds. */
const NOT_IN_DRAFT_4 = new Set([
  'const',
  'propertyNames',
  'contains',
  'if',
  'then',
  'else',
  '$defs',
  'prefixItems',
  'unevaluatedProperties',
  'unevaluatedItems',
  'dependentSchemas',
  'examples',
]);

/** Problems with the shape of `schema` as JSON Schema 2020-12 (or draft 4); empty when well-formed. */
export const checkSchema = (schema: unknown, path = '$', dialect: '2020-12' | 'draft-4' = '2020-12'): string[] => {
  if (typeof schema === 'boolean') return dialect === 'draft-4' ? [`${path}: boolean schemas are not draft 4`] : [];
  if (!isObject(schema)) return [`${path}: a schema must be an object or a boolean`];
  const errors: string[] = [];
  for (const [keyword, arg] of Object.entries(schema)) {
    const at = `${path}.${keyword}`;
    if (dialect === 'draft-4' && NOT_IN_DRAFT_4.has(keyword)) errors.push(`${at}: not a draft 4 keyword`);
    if (
      keyword.startsWith('x-') ||
      ['title', 'description', '$comment', '$id', 'deprecated', 'readOnly', 'writeOnly', 'default'].includes(keyword)
    ) {
      if (['title', 'description', '$comment', '$id'].includes(keyword) && typeof arg !== 'string')
        errors.push(`${at}: must be a string`);
    } else if (keyword === '$schema') {
      if (typeof arg !== 'string') errors.push(`${at}: must be a string`);
    } else if (keyword === 'examples') {
      if (!Array.isArray(arg)) errors.push(`${at}: must be an array`);
    } else if (SCHEMA_MAPS.has(keyword)) {
      if (!isObject(arg)) errors.push(`${at}: must be an object of schemas`);
      else for (const [name, sub] of Object.entries(arg)) errors.push(...checkSchema(sub, `${at}.${name}`, dialect));
    } else if (SCHEMA_LISTS.has(keyword)) {
      if (!Array.isArray(arg) || arg.length === 0) errors.push(`${at}: must be a non-empty array of schemas`);
      else arg.forEach((sub, index) => errors.push(...checkSchema(sub, `${at}[${index}]`, dialect)));
    } else if (SUBSCHEMAS.has(keyword)) {
      if (keyword === 'items' && Array.isArray(arg) && dialect === '2020-12')
        errors.push(`${at}: an array "items" is not 2020-12 (use prefixItems)`);
      else if (!(keyword === 'additionalProperties' && typeof arg === 'boolean'))
        errors.push(...checkSchema(arg, at, dialect));
    } else if (NUMBERS.has(keyword)) {
      const boolBound = dialect === 'draft-4' && keyword.startsWith('exclusive');
      if (boolBound ? typeof arg !== 'boolean' : typeof arg !== 'number')
        errors.push(`${at}: must be a ${boolBound ? 'boolean' : 'number'}`);
    } else if (COUNTS.has(keyword)) {
      if (!Number.isInteger(arg) || (arg as number) < 0) errors.push(`${at}: must be a non-negative integer`);
    } else if (OTHERS.has(keyword)) {
      if (keyword === '$ref' && typeof arg !== 'string') errors.push(`${at}: must be a string`);
      if (keyword === 'type') {
        const types = Array.isArray(arg) ? arg : [arg];
        if (types.length === 0 || types.some((type) => !TYPES.has(type as string)))
          errors.push(`${at}: unknown type ${JSON.stringify(arg)}`);
      }
      if (keyword === 'enum' && (!Array.isArray(arg) || arg.length === 0))
        errors.push(`${at}: must be a non-empty array`);
      if (
        keyword === 'required' &&
        (!Array.isArray(arg) || arg.some((name) => typeof name !== 'string') || new Set(arg).size !== arg.length)
      ) {
        errors.push(`${at}: must be an array of distinct strings`);
      }
      if (keyword === 'pattern') {
        try {
          new RegExp(arg as string, 'u');
        } catch {
          errors.push(`${at}: not a valid regular expression`);
        }
      }
      if (keyword === 'format' && typeof arg !== 'string') errors.push(`${at}: must be a string`);
    } else {
      errors.push(`${at}: unknown keyword`);
    }
  }
  return errors;
};

/** Every `$ref` anywhere in `document` that does not resolve. */
export const unresolvedRefs = (document: unknown): string[] => {
  const missing: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node)) node.forEach((item, index) => walk(item, `${path}[${index}]`));
    else if (isObject(node)) {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string' && resolvePointer(document, value) === undefined)
          missing.push(`${path}: ${value}`);
        else walk(value, `${path}.${key}`);
      }
    }
  };
  walk(document, '$');
  return missing;
};

// ---------------------------------------------------------------- OpenAPI 3.1 structure

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Problems with `document` as OpenAPI 3.1; empty when it is well-formed. */
export const checkOpenApi = (document: unknown): string[] => {
  if (!isObject(document)) return ['the document is not an object'];
  const errors: string[] = [];
  if (typeof document.openapi !== 'string' || !/^3\.1\.\d+$/.test(document.openapi))
    errors.push(`openapi must be "3.1.x", got ${JSON.stringify(document.openapi)}`);
  const info = document.info;
  if (!isObject(info) || typeof info.title !== 'string' || typeof info.version !== 'string')
    errors.push('info needs a title and a version (strings)');
  if (!isObject(document.paths)) errors.push('paths must be an object');
  errors.push(...unresolvedRefs(document).map((ref) => `unresolved $ref at ${ref}`));
  const components = isObject(document.components) ? document.components : {};
  const schemes = isObject(components.securitySchemes) ? components.securitySchemes : {};
  for (const [name, scheme] of Object.entries(schemes)) {
    if (
      !isObject(scheme) ||
      !['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'].includes(scheme.type as string)
    )
      errors.push(`securitySchemes.${name}: bad type`);
    if (isObject(scheme) && scheme.type === 'http' && typeof scheme.scheme !== 'string')
      errors.push(`securitySchemes.${name}: http needs scheme`);
  }
  const checkSecurity = (security: unknown, where: string) => {
    if (security === undefined) return;
    if (!Array.isArray(security)) return errors.push(`${where}: security must be an array`);
    for (const requirement of security)
      for (const name of Object.keys(requirement as Json))
        if (!(name in schemes)) errors.push(`${where}: unknown security scheme ${name}`);
  };
  checkSecurity(document.security, 'security');
  for (const [name, schema] of Object.entries(isObject(components.schemas) ? components.schemas : {}))
    errors.push(...checkSchema(schema, `components.schemas.${name}`));

  const deref = (node: unknown): unknown =>
    isObject(node) && typeof node.$ref === 'string' && !('type' in node)
      ? deref(resolvePointer(document, node.$ref))
      : node;
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(isObject(document.paths) ? document.paths : {})) {
    if (!path.startsWith('/')) errors.push(`paths.${path}: must start with /`);
    if (!isObject(item)) {
      errors.push(`paths.${path}: not an object`);
      continue;
    }
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] as string);
    for (const method of Object.keys(item)) {
      if (!METHODS.includes(method) && !['parameters', 'summary', 'description', 'servers', '$ref'].includes(method))
        errors.push(`paths.${path}: unknown key ${method}`);
    }
    for (const method of METHODS.filter((m) => m in item)) {
      const where = `paths.${path}.${method}`;
      const operation = item[method];
      if (!isObject(operation)) {
        errors.push(`${where}: not an object`);
        continue;
      }
      if (typeof operation.operationId === 'string') {
        if (operationIds.has(operation.operationId))
          errors.push(`${where}: duplicate operationId ${operation.operationId}`);
        operationIds.add(operation.operationId);
      }
      checkSecurity(operation.security, where);
      const params = (Array.isArray(operation.parameters) ? operation.parameters : []).map(deref) as Json[];
      for (const param of params) {
        if (typeof param.name !== 'string' || !['path', 'query', 'header', 'cookie'].includes(param.in as string))
          errors.push(`${where}: parameter needs name and in`);
        if (param.in === 'path' && param.required !== true)
          errors.push(`${where}: path parameter ${param.name} must be required`);
        if (!('schema' in param) && !('content' in param))
          errors.push(`${where}: parameter ${param.name} needs schema or content`);
        if (isObject(param.schema)) errors.push(...checkSchema(param.schema, `${where}.parameters.${param.name}`));
      }
      for (const name of templated)
        if (!params.some((param) => param.in === 'path' && param.name === name))
          errors.push(`${where}: path parameter {${name}} is not declared`);
      for (const param of params.filter((p) => p.in === 'path'))
        if (!templated.includes(param.name as string))
          errors.push(`${where}: path parameter ${param.name} is not in the path`);
      if (operation.requestBody !== undefined) {
        const body = deref(operation.requestBody) as Json;
        if (!isObject(body.content)) errors.push(`${where}: requestBody needs content`);
        else
          for (const [type, media] of Object.entries(body.content))
            if (isObject(media) && media.schema !== undefined)
              errors.push(...checkSchema(media.schema, `${where}.requestBody.${type}`));
      }
      if (!isObject(operation.responses) || Object.keys(operation.responses).length === 0) {
        errors.push(`${where}: needs responses`);
        continue;
      }
      for (const [status, raw] of Object.entries(operation.responses)) {
        if (!/^([1-5]\d\d|[1-5]XX|default)$/.test(status)) errors.push(`${where}.responses: bad status ${status}`);
        const response = deref(raw) as Json;
        if (typeof response?.description !== 'string') errors.push(`${where}.responses.${status}: needs a description`);
        for (const [type, media] of Object.entries(isObject(response?.content) ? response.content : {})) {
          if (isObject(media) && media.schema !== undefined)
            errors.push(...checkSchema(media.schema, `${where}.responses.${status}.${type}`));
        }
      }
    }
  }
  return errors;
};
