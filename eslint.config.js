// The Fastify ecosystem's style (neostandard: standard for TypeScript), over every source folder.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['node_modules/**', '.cache/**', '.tap/**', 'bench/results/**', 'chart/**']
  }),
  {
    rules: {
      // A TypeBox schema and its Static type share one name (`const X = Type.Object(…)`,
      // `type X = Static<typeof X>`): TypeScript keeps values and types apart.
      '@typescript-eslint/no-redeclare': 'off',
      // `void promise` marks a promise deliberately not awaited (a reply header, a close).
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
