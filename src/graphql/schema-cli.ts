import 'reflect-metadata';
import { readFile, writeFile } from 'node:fs/promises';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { RESOLVERS } from '../composition.js';
import { buildGraphQLSchema } from './schema.js';

/** `write` regenerates schema.graphql from the code; `check` fails when the committed file differs. */
const mode = process.argv[2];
const file = new URL('../../schema.graphql', import.meta.url);
const generated = `${printSchema(lexicographicSortSchema(await buildGraphQLSchema(RESOLVERS)))}\n`;

if (mode === 'write') {
  await writeFile(file, generated);
  process.stdout.write('schema.graphql written\n');
} else if (mode === 'check') {
  const committed = await readFile(file, 'utf8').catch(() => '');
  if (committed !== generated) {
    process.stderr.write('schema.graphql is out of date with the code: run `npm run schema:emit` and commit it.\n');
    process.exit(1);
  }
  process.stdout.write('schema.graphql matches the code\n');
} else {
  process.stderr.write('usage: schema-cli.ts write|check\n');
  process.exit(2);
}
