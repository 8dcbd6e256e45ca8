import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

// CommonJS on purpose: `__dirname` is the one way to find this file that both the ESM and the CommonJS builds
// (and the TypeScript sources) can compile, since `import.meta` is a syntax error in CommonJS.
function findRoot (): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'views', 'index.eta')) && existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) throw new Error('fastify-fancy-cache: the admin page templates (views/*.eta) are missing from the package')
  }
}

/** The package's directory (holding package.json and views/), from the sources or either build. */
export const packageRoot = findRoot()
