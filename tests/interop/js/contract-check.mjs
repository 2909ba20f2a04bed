// Checks a contract test's job file (argv[2]) with tools other than ours: every schema
// against JSON Schema 2020-12's meta-schema (ajv), values against schemas (ajv), the MCP
// tool list against the MCP SDK's own schema, and OpenAI's naming and strict-mode rules.
// Prints one JSON report on stdout.
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import { ListToolsResultSchema } from '@modelcontextprotocol/sdk/types.js';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
// Formats like "uint64" are annotations, not assertions, in 2020-12: do not fail on them.
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const report = { meta: [], checks: [], mcp: [], openai: [] };

for (const { id, schema } of job.schemas) {
  if (!ajv.validateSchema(schema)) report.meta.push({ id, errors: ajv.errors });
}

for (const { id, schema, value, expect } of job.checks) {
  let valid;
  try {
    valid = ajv.validate(schema, value);
  } catch (e) {
    report.checks.push({ id, error: String(e) });
    continue;
  }
  if (valid !== expect) report.checks.push({ id, expect, got: valid, errors: ajv.errors, value });
}

for (const [service, list] of Object.entries(job.mcp)) {
  const parsed = ListToolsResultSchema.safeParse(list);
  if (!parsed.success) report.mcp.push({ service, error: parsed.error.message });
  for (const tool of list.tools ?? []) {
    for (const key of ['inputSchema', 'outputSchema']) {
      if (tool[key] && !ajv.validateSchema({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...tool[key] })) {
        report.mcp.push({ service, tool: tool.name, key, errors: ajv.errors });
      }
    }
  }
}

// OpenAI: function names, and what strict mode (structured outputs) accepts.
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const STRICT_KEYWORDS = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'anyOf',
  '$ref', '$defs', 'description', 'pattern', 'format', 'minimum', 'maximum', 'exclusiveMinimum',
  'exclusiveMaximum', 'multipleOf', 'minItems', 'maxItems',
]);
const STRICT_FORMATS = new Set(['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid']);
function strictProblems(schema, path, defs) {
  const out = [];
  if (typeof schema !== 'object' || schema === null) return [`${path}: not an object schema`];
  for (const key of Object.keys(schema)) {
    if (!STRICT_KEYWORDS.has(key)) out.push(`${path}: keyword ${key} is not allowed in strict mode`);
  }
  if (schema.format !== undefined && !STRICT_FORMATS.has(schema.format)) {
    out.push(`${path}: format ${schema.format} is not supported in strict mode`);
  }
  const isObject = schema.type === 'object' || (Array.isArray(schema.type) && schema.type.includes('object'));
  if (isObject) {
    if (schema.additionalProperties !== false) out.push(`${path}: object without additionalProperties: false`);
    const props = Object.keys(schema.properties ?? {});
    const required = schema.required ?? [];
    for (const p of props) if (!required.includes(p)) out.push(`${path}: property ${p} is not required`);
  }
  if (schema.$ref) {
    const name = schema.$ref.replace('#/$defs/', '');
    if (!defs || !(name in defs)) out.push(`${path}: $ref ${schema.$ref} does not resolve`);
  }
  for (const [k, v] of Object.entries(schema.properties ?? {})) out.push(...strictProblems(v, `${path}.${k}`, defs));
  for (const [k, v] of Object.entries(schema.$defs ?? {})) out.push(...strictProblems(v, `${path}.$defs.${k}`, defs));
  if (schema.items) out.push(...strictProblems(schema.items, `${path}[]`, defs));
  (schema.anyOf ?? []).forEach((v, i) => out.push(...strictProblems(v, `${path}|${i}`, defs)));
  return out;
}
for (const [service, file] of Object.entries(job.openai)) {
  const seen = new Set();
  for (const tool of [...file.tools, ...file.strict_tools.tools]) {
    const f = tool.function;
    if (tool.type !== 'function') report.openai.push(`${service}: tool type ${tool.type}`);
    if (!NAME.test(f.name)) report.openai.push(`${service}: bad name ${f.name}`);
    if (f.parameters?.type !== 'object') report.openai.push(`${service}: ${f.name} parameters are not an object`);
    if (!ajv.validateSchema({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...f.parameters })) {
      report.openai.push(`${service}: ${f.name} parameters are not a valid schema`);
    }
  }
  for (const tool of file.tools) {
    if (seen.has(tool.function.name)) report.openai.push(`${service}: duplicate name ${tool.function.name}`);
    seen.add(tool.function.name);
  }
  for (const tool of file.strict_tools.tools) {
    const p = tool.function.parameters;
    if (tool.function.strict !== true) report.openai.push(`${service}: ${tool.function.name} not marked strict`);
    report.openai.push(...strictProblems(p, `${service}:${tool.function.name}`, p.$defs).map(String));
  }
}

process.stdout.write(JSON.stringify(report) + '\n');
