// Reads a few live counters from the server's Prometheus endpoint during a
// run, to show that the metrics move under load, and histograms (the batch
// sizes of each window).

export interface LiveMetrics {
  at: string
  /** ws_frames_pushed_total{type="message.created"} */
  messagePushes: number
  /** ws_frames_pushed_total, all types */
  framesPushed: number
  /** ws_connections_open */
  socketsOpen: number
  /** ws_push_latency_seconds_count{type="message.created"} */
  pushLatencyObservations: number
  /** http_requests_total of the post route */
  postsAnswered: number
}

/** The samples of one metric in a scrape: each line's labels (as written between the braces) and value. */
export function samples (text: string, name: string): Array<{ labels: string, value: number }> {
  const out: Array<{ labels: string, value: number }> = []
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:]+)(\{([^}]*)\})?\s+([0-9.eE+-]+|NaN)$/.exec(line)
    if (m !== null && m[1] === name) out.push({ labels: m[3] ?? '', value: Number(m[4]) })
  }
  return out
}

/** The value of one label in a sample's labels (`space="new_space",...`), '' without it. */
export function label (labels: string, name: string): string {
  return new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1] ?? ''
}

/** The total of a metric's samples (those whose labels pass `labelFilter`). */
export function sum (text: string, name: string, labelFilter?: (labels: string) => boolean): number {
  return samples(text, name).filter((x) => labelFilter === undefined || labelFilter(x.labels)).reduce((t, x) => t + x.value, 0)
}

/** The Prometheus text of a server's /metrics (bounded: a saturated server may be slow to answer). */
export async function scrapeText (baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  return await res.text()
}

/** broker_cpu_seconds_total of a server, both directions: what carrying broker messages cost it so far (NaN without the counter). */
export async function brokerCpuSeconds (baseUrl: string): Promise<number> {
  const text = await scrapeText(baseUrl)
  return text.includes('broker_cpu_seconds_total{') ? sum(text, 'broker_cpu_seconds_total') : Number.NaN
}

export interface Histogram { count: number, sum: number, buckets: Array<{ le: number, count: number }> }

/** An unlabelled histogram of a scrape: its count, sum and cumulative buckets (ascending). */
export function histogram (text: string, name: string): Histogram {
  const buckets: Histogram['buckets'] = []
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:]+)_bucket\{le="([^"]+)"\}\s+([0-9.eE+-]+)$/.exec(line)
    if (m !== null && m[1] === name) buckets.push({ le: m[2] === '+Inf' ? Infinity : Number(m[2]), count: Number(m[3]) })
  }
  return { count: sum(text, `${name}_count`), sum: sum(text, `${name}_sum`), buckets: buckets.sort((a, b) => a.le - b.le) }
}

export async function scrapeMetrics (baseUrl: string): Promise<LiveMetrics> {
  const text = await scrapeText(baseUrl)
  return {
    at: new Date().toISOString(),
    messagePushes: sum(text, 'ws_frames_pushed_total', (l) => l.includes('type="message.created"')),
    framesPushed: sum(text, 'ws_frames_pushed_total'),
    socketsOpen: sum(text, 'ws_connections_open'),
    pushLatencyObservations: sum(text, 'ws_push_latency_seconds_count', (l) => l.includes('type="message.created"')),
    postsAnswered: sum(text, 'http_requests_total', (l) => l.includes('route="/v1/conversations/:id/messages"') && l.includes('method="POST"'))
  }
}
