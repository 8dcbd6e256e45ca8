// Where a row's server spends its CPU: a summary of the .cpuprofile that `node --cpu-prof` wrote (`--profile`).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount: number
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
}

const IDLE = new Set(['(idle)', '(root)'])

/** Which code a frame belongs to: a package, this project's file, Node's internals, or V8 itself. */
function ownerOf (frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  if (url.startsWith('node:')) return 'node internals'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg !== null) return pkg[1]!
  const own = /\/((?:lib|bench)\/.+|index\.ts)$/.exec(url)
  return own === null ? url : own[1]!
}

function nameOf (frame: ProfileNode['callFrame']): string {
  const file = frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/((?:lib|bench)\/|index\.ts)/, '$1')
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${file}:${frame.lineNumber + 1}`
}

function top (totals: Map<string, number>, n: number, perRequest: (ms: number) => string): string[] {
  return [...totals].sort((x, y) => y[1] - x[1]).slice(0, n).map(([name, ms]) => `  ${perRequest(ms).padStart(14)}  ${name}`)
}

/** The largest profile in a directory: the main thread's (the others are loader threads). */
function mainProfile (dir: string): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f))
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`)
  return files.sort((x, y) => statSync(y).size - statSync(x).size)[0]!
}

/** Self time by owner and by function, and inclusive time of this project's functions, per request. */
export function summarizeProfile (dir: string, requests: number): string {
  const path = mainProfile(dir)
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
  const msPerSample = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length)
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfByOwner = new Map<string, number>()
  const selfByName = new Map<string, number>()
  const inclusiveOwn = new Map<string, number>()
  let busy = 0
  const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms)
  const walk = (node: ProfileNode, stack: Set<string>): number => {
    const self = IDLE.has(node.callFrame.functionName) ? 0 : node.hitCount * msPerSample
    const owner = ownerOf(node.callFrame)
    const name = nameOf(node.callFrame)
    if (self > 0) {
      busy += self
      add(selfByOwner, owner, self)
      add(selfByName, name, self)
    }
    const counted = !stack.has(name) && /^(lib\/|index\.ts)/.test(owner)
    if (counted) stack.add(name)
    let total = self
    for (const child of node.children ?? []) total += walk(byId.get(child)!, stack)
    if (counted) {
      stack.delete(name)
      add(inclusiveOwn, name, total)
    }
    return total
  }
  walk(profile.nodes[0]!, new Set())
  const perRequest = (ms: number) => requests > 0 ? `${(ms * 1000 / requests).toFixed(2)} µs/req` : `${ms.toFixed(0)} ms`
  return [
    `profile ${path}: ${busy.toFixed(0)} ms busy over ${requests} requests = ${perRequest(busy)}`,
    'self time by owner:', ...top(selfByOwner, 15, perRequest),
    'self time by function:', ...top(selfByName, 30, perRequest),
    'inclusive time of fastify-fancy-cache functions:', ...top(inclusiveOwn, 20, perRequest)
  ].join('\n')
}
