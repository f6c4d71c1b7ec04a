// ESLint for Vigil: eslint's and typescript-eslint's recommended rules, with type information
// (the tsconfig's own project), so promises left floating or misused are caught — the bugs that
// matter most in a server that must answer every request and release every slot.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'drizzle/', 'coverage/', '.tap/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      // `_`-prefixed names are deliberately unused (placeholders in destructuring and signatures).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Fastify hooks and handlers are async by contract: an async function without an await is
      // how a plugin or route says "I return a promise", not a mistake.
      '@typescript-eslint/require-await': 'off',
      // Its fixes broke the type check here (an assertion tsc needs, after a loop or on a generic
      // Drizzle table, reported as unnecessary); a redundant assertion is style, not a bug.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Input validation matches control characters on purpose (titles, descriptions, DNS names).
      'no-control-regex': 'off',
      // tap queues every subtest and its parent waits for it: `t.test(...)` without an await is
      // how tap tests are written. Every other promise must be awaited or handled.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] }
      ]
    }
  },
  {
    // The build script is plain JavaScript run by node (a production install has no TypeScript).
    files: ['scripts/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked
  },
  {
    // Tests read untyped JSON bodies (`any` by design: they assert on what the server sent).
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off'
    }
  },
  {
    files: ['eslint.config.js'],
    extends: [tseslint.configs.disableTypeChecked]
  }
)
