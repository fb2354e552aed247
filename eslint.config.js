// Lint doubles as the architecture check: imports point one way along the data flow
// server → admission → mutation → images → registry (auth, transport), with secrets and tls beside them.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layers = ['server', 'admission', 'mutation', 'images', 'registry'];
/** Folders each layer must not import from (everything "above" it, plus the side modules it has no business with). */
const forbidden = {
  reference: [...layers, 'secrets', 'tls', 'cli', 'config'],
  registry: ['server', 'admission', 'mutation', 'images', 'secrets', 'cli', 'config'],
  images: ['server', 'admission', 'mutation', 'secrets', 'cli', 'config'],
  mutation: ['server', 'admission', 'secrets', 'cli', 'config'],
  admission: ['server', 'cli', 'config'],
  server: ['cli', 'config'],
  secrets: ['server', 'admission', 'mutation', 'images', 'cli', 'config'],
  tls: [...layers, 'secrets', 'cli', 'config'],
};

const layerRules = Object.entries(forbidden).map(([folder, banned]) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: [
          {
            name: '@kubernetes/client-node',
            message: 'Only src/secrets/kube.ts talks to the Kubernetes API.',
          },
        ],
        patterns: banned.map((b) => ({
          group: [`**/${b}/**`, `**/${b}.js`, `../${b}`, `./${b}`],
          message: `src/${folder} must not import src/${b} (imports point one way; see docs/architecture.md).`,
        })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'bundle/**', 'node_modules/**', 'coverage/**', 'bin/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      complexity: ['error', { max: 12 }],
      'max-depth': ['error', { max: 3 }],
      'max-params': ['error', { max: 4 }],
      'max-lines': ['error', { max: 320, skipBlankLines: true, skipComments: true }],
      '@typescript-eslint/explicit-function-return-type': ['error', { allowExpressions: true }],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Only src/config.ts reads the environment.' },
        { object: 'process', property: 'argv', message: 'Only src/config.ts and the CLI read arguments.' },
      ],
    },
  },
  ...layerRules,
  {
    files: ['src/config.ts', 'src/cli/**/*.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['src/secrets/kube.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', '*.js'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      // Fakes implement async interfaces synchronously.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
