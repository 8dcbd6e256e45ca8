import { invalidOption } from '../errors.ts'
import type { MetricsRegistry } from '../options.ts'
import { BUCKETS, OUTCOMES, PURGE_KINDS, type MetricsCollector } from './metrics.ts'

/** The Prometheus text format's content type. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** One sample of a metric family. */
export interface Sample {
  /** Appended to the family name: `_bucket`, `_sum`, `_count` for histograms, else `''`. */
  suffix: string
  labels: Record<string, string>
  value: number
}

/** A metric and its samples, as Prometheus (and prom-client) model them. */
export interface Family {
  name: string
  help: string
  type: 'counter' | 'gauge' | 'histogram'
  samples: Sample[]
}

/** Prometheus spells the outcome with an underscore. */
const label = (outcome: string) => outcome.replace('-', '_')

function requestFamilies (collector: MetricsCollector): Family[] {
  const requests: Sample[] = []
  for (const counters of collector.routes()) {
    for (const outcome of OUTCOMES) {
      requests.push({ suffix: '', labels: { route: counters.route, outcome: label(outcome) }, value: counters[outcome] })
    }
  }
  const seconds: Sample[] = []
  for (const outcome of OUTCOMES) {
    const histogram = collector.histogram(outcome)
    let cumulative = 0
    BUCKETS.forEach((le, i) => {
      cumulative += histogram.counts[i]!
      seconds.push({ suffix: '_bucket', labels: { outcome: label(outcome), le: String(le) }, value: cumulative })
    })
    seconds.push({ suffix: '_bucket', labels: { outcome: label(outcome), le: '+Inf' }, value: histogram.count })
    seconds.push({ suffix: '_sum', labels: { outcome: label(outcome) }, value: histogram.sum })
    seconds.push({ suffix: '_count', labels: { outcome: label(outcome) }, value: histogram.count })
  }
  return [
    { name: 'fancy_cache_requests_total', help: 'Cacheable requests by route pattern and outcome.', type: 'counter', samples: requests },
    {
      name: 'fancy_cache_purges_total',
      help: 'Purges by kind (urls, tags, key, clear, write).',
      type: 'counter',
      samples: PURGE_KINDS.map((kind) => ({ suffix: '', labels: { kind }, value: collector.purges[kind] }))
    },
    {
      name: 'fancy_cache_purged_entries_total',
      help: 'Entries removed or marked stale by purges.',
      type: 'counter',
      samples: [{ suffix: '', labels: {}, value: collector.purgedEntries }]
    },
    {
      name: 'fancy_cache_response_seconds',
      help: 'Time from onRequest to the reply being sent, by outcome.',
      type: 'histogram',
      samples: seconds
    }
  ]
}

const gauge = (name: string, help: string, value: number): Family =>
  ({ name, help, type: 'gauge', samples: [{ suffix: '', labels: {}, value }] })
const counter = (name: string, help: string, value: number): Family =>
  ({ name, help, type: 'counter', samples: [{ suffix: '', labels: {}, value }] })

/** Gauges read from the store at scrape time; a store that fails to answer is reported down. */
async function storeFamilies (collector: MetricsCollector): Promise<Family[]> {
  const summary = await collector.api.stats().catch(() => undefined)
  const health = collector.api.health()
  const up = summary !== undefined && health.up && health.connected
  const families: Family[] = []
  if (summary !== undefined) {
    families.push(gauge('fancy_cache_entries', 'Entries stored now.', summary.entries))
    families.push(gauge('fancy_cache_bytes', 'Bytes stored now.', summary.bytes))
  }
  families.push(gauge('fancy_cache_store_up', 'Whether the store answers (1) or not (0).', up ? 1 : 0))
  families.push(gauge('fancy_cache_circuit_open', 'Whether the circuit breaker skips the store now (1) or not (0).',
    health.circuitOpen ? 1 : 0))
  if (health.l1 !== undefined) {
    families.push(counter('fancy_cache_l1_hits_total', 'Lookups answered by the in-process L1.', health.l1.hits))
    families.push(counter('fancy_cache_l1_misses_total', 'Lookups the in-process L1 passed on to Redis.', health.l1.misses))
    families.push(gauge('fancy_cache_l1_entries', 'Entries in the in-process L1 now.', health.l1.entries))
  }
  return families
}

/** Every family, counters first. */
export async function familiesOf (collector: MetricsCollector): Promise<Family[]> {
  return [...requestFamilies(collector), ...await storeFamilies(collector)]
}

/** A label value as the text format writes it: backslash, double quote and newline escaped. */
function escapeLabel (value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))
}

function formatValue (value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

/** The Prometheus text exposition format (version 0.0.4). */
export function render (families: Family[]): string {
  const lines: string[] = []
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`)
    for (const sample of family.samples) {
      const pairs = Object.entries(sample.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      lines.push(`${family.name}${sample.suffix}${pairs.length === 0 ? '' : `{${pairs.join(',')}}`} ${formatValue(sample.value)}`)
    }
  }
  return lines.join('\n') + '\n'
}

/**
 * Register the same metrics in a prom-client `Registry`, as objects with prom-client's `Metric` shape (name, help,
 * type, `get()`), so the app's own `/metrics` shows them without prom-client being a dependency here. Resolves a
 * function that removes them again.
 */
export async function registerIn (registry: MetricsRegistry, collector: MetricsCollector): Promise<() => void> {
  // The names (the L1 ones only appear with an L1) are fixed when the app starts.
  const names = (await familiesOf(collector)).map((f) => f.name)
  // One scrape asks every metric at once: they share one read of the store.
  let pending: Promise<Family[]> | undefined
  const current = () => {
    pending ??= familiesOf(collector).finally(() => { pending = undefined })
    return pending
  }
  const registered: string[] = []
  const remove = () => { for (const name of registered) registry.removeSingleMetric?.(name) }
  for (const name of names) {
    const first = (await current()).find((f) => f.name === name)!
    const metric = {
      name,
      help: first.help,
      type: first.type,
      aggregator: 'sum',
      async get () {
        const family = (await current()).find((f) => f.name === name) ?? { ...first, samples: [] }
        return {
          name,
          help: family.help,
          type: family.type,
          aggregator: 'sum',
          values: family.samples.map((s) => ({ value: s.value, labels: s.labels, metricName: name + s.suffix }))
        }
      }
    }
    try {
      registry.registerMetric(metric as never)
    } catch (err) {
      remove()
      throw invalidOption(`metrics.registry: ${(err as Error).message} Another app (or another registration) already ` +
        'put its fancy_cache metrics there: give each app a Registry of its own and merge them with Registry.merge')
    }
    registered.push(name)
  }
  return remove
}
