// Reads a few live counters from the server's Prometheus endpoint during a
// run, to show that the metrics move under load.

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

function sum (text: string, name: string, labelFilter?: (labels: string) => boolean): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:]+)(\{([^}]*)\})?\s+([0-9.eE+-]+|NaN)$/.exec(line)
    if (m === null || m[1] !== name) continue
    if (labelFilter !== undefined && !labelFilter(m[3] ?? '')) continue
    total += Number(m[4])
  }
  return total
}

export async function scrapeMetrics (baseUrl: string): Promise<LiveMetrics> {
  const res = await fetch(`${baseUrl}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  const text = await res.text()
  return {
    at: new Date().toISOString(),
    messagePushes: sum(text, 'ws_frames_pushed_total', (l) => l.includes('type="message.created"')),
    framesPushed: sum(text, 'ws_frames_pushed_total'),
    socketsOpen: sum(text, 'ws_connections_open'),
    pushLatencyObservations: sum(text, 'ws_push_latency_seconds_count', (l) => l.includes('type="message.created"')),
    postsAnswered: sum(text, 'http_requests_total', (l) => l.includes('route="/v1/conversations/:id/messages"') && l.includes('method="POST"'))
  }
}
