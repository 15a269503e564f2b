// ESLint (flat config): eslint's and typescript-eslint's recommended rules on every TypeScript
// file, without type information (fast enough for `make test` on two cores). Layout is
// prettier's job (.prettierrc.json, `make format`), so no formatting rules here.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['**/dist/**', '**/node_modules/**', '.tools/**', 'coverage/**', 'bench/.bin/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    rules: {
      // `_`-prefixed names are unused on purpose (a callback's leading parameters, a field
      // left out of a copy).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // `[a, b] = ...` where only b is reassigned stays one declaration.
      'prefer-const': ['error', { destructuring: 'all' }],
      // `l` is V8's linear-time engine flag (core/src/compile/config-regex.ts).
      'no-invalid-regexp': ['error', { allowConstructorFlags: ['l'] }],
    },
  },
  {
    // An error about a secret does not chain the error it replaces: that one's message may
    // quote the secret (JSON.parse does), and a logged `cause` would carry it into the logs.
    files: ['packages/secrets/src/**/*.ts'],
    rules: { 'preserve-caught-error': 'off' },
  },
  {
    // Tests read JSON answers and poke at internals; `any` there is a cast, not a design.
    files: ['packages/*/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
