// What `make example` must redo, judged by content and times rather than by make's file times
// alone (exit 0: stale, with the reason on stderr; exit 1: up to date):
//
//   node scripts/stale.mjs packages   the copies of @wa-helpdesk/client and @wa-helpdesk/react in
//                                     node_modules differ from the packages' build output
//                                     (.npmrc install-links copies them at `npm ci`, so a
//                                     rebuilt package is only seen after a new `npm ci`)
//   node scripts/stale.mjs build      a source file, the installed modules or an .env file is
//                                     newer than the last `next build` (.next/BUILD_ID)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const here = new URL('..', import.meta.url).pathname
const PACKAGES = [
  ['@wa-helpdesk/client', '../../clients/js'],
  ['@wa-helpdesk/react', '../../clients/react'],
]
// Written by `next build` and `tsc` themselves, or this script's folder: never a reason to build.
const OWN_OUTPUT = new Set(['node_modules', '.next', 'next-env.d.ts', 'tsconfig.tsbuildinfo', 'scripts'])

function files(dir, skip = new Set()) {
  const out = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(entry.name)) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...files(path))
    else out.push(path)
  }
  return out
}

function stalePackage(name, source) {
  const from = join(here, source)
  const copy = join(here, 'node_modules', name)
  if (!existsSync(copy)) return `${name} is not installed`
  // What npm installs of the package: package.json and its "files".
  const manifest = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'))
  const wanted = ['package.json', ...(manifest.files ?? [])]
  for (const item of wanted) {
    const path = join(from, item)
    if (!existsSync(path)) return `${name}: ${item} is missing in ${source} (build the package first)`
    const list = statSync(path).isDirectory() ? files(path) : [path]
    for (const file of list) {
      const installed = join(copy, relative(from, file))
      if (!existsSync(installed) || !readFileSync(installed).equals(readFileSync(file))) {
        return `${name}: ${relative(from, file)} changed`
      }
    }
  }
  return null
}

function staleBuild() {
  const built = join(here, '.next', 'BUILD_ID')
  if (!existsSync(built)) return 'never built'
  const at = statSync(built).mtimeMs
  // Documentation is no input of the build.
  const sources = files(here, OWN_OUTPUT).filter((file) => !file.endsWith('.md'))
  const inputs = [...sources, join(here, 'node_modules', '.package-lock.json')]
  const newer = inputs.find((file) => existsSync(file) && statSync(file).mtimeMs > at)
  return newer ? `${relative(here, newer)} changed since the last build` : null
}

const what = process.argv[2]
const reason = what === 'packages'
  ? PACKAGES.map(([name, source]) => stalePackage(name, source)).find(Boolean) ?? null
  : what === 'build'
    ? staleBuild()
    : (() => { throw new Error('usage: node scripts/stale.mjs packages|build') })()
if (reason) {
  console.error(`make example: ${reason}`)
  process.exit(0)
}
process.exit(1)
