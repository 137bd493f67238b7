import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the operations the tests and examples send (src/test/operations/*.graphql),
 * checked against the emitted schema.graphql. `npm run codegen` writes them; `npm run codegen:check`
 * (CI) fails when the committed file is stale.
 *
 * Only `typescript-operations` + `typed-document-node`: since typescript-operations 6 the operation
 * types are pre-resolved and inline the schema types they need (enums, inputs, scalars), so adding
 * the `typescript` plugin would declare those identifiers twice.
 */
const config: CodegenConfig = {
  overwrite: true,
  schema: 'schema.graphql',
  documents: ['src/**/*.graphql'],
  generates: {
    'src/test/generated/graphql.ts': {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        scalars: { DateTime: 'string', JSON: 'unknown' },
        // Fail on a new custom scalar nobody mapped, instead of silently typing it `any`.
        strictScalars: true,
        // Enums as unions of string literals ('SIGNED_IN' | ...): nothing emitted at runtime.
        enumType: 'string-literal',
        // `import type` for TypedDocumentNode, so the import is erased whatever the TS settings.
        useTypeImports: true,
        // List variables typed as arrays only (the spec also coerces a single value; no client should rely on it).
        arrayInputCoercion: false,
      },
    },
  },
};

export default config;
