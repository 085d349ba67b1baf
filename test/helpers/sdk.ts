// The client SDK in tests: a `ws` WebSocket the test can cut off, keep
// offline, or make lose a frame; and an SDK client that records its events.
import WebSocket from 'ws'
import { createClient, type ChatEvent, type ClientOptions, type SwitchboardClient } from '../../src/client/index.js'

export interface SocketControl {
  /** Every socket the SDK opened, oldest first. */
  sockets: WebSocket[]
  /** While true, new connections go to a closed port and fail. */
  offline: boolean
  /** Frames for which this returns true are swallowed (a lost push). */
  drop?: ((frame: any) => boolean) | undefined
  current (): WebSocket
}

export function controlledWebSocket (): { WebSocket: typeof WebSocket, control: SocketControl } {
  const control: SocketControl = {
    sockets: [],
    offline: false,
    current () {
      const s = control.sockets.at(-1)
      if (s === undefined) throw new Error('no socket yet')
      return s
    }
  }
  const setter = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage')!.set!
  class TestWebSocket extends WebSocket {
    constructor (url: string) {
      super(control.offline ? 'ws://127.0.0.1:1/' : url)
      control.sockets.push(this)
      Object.defineProperty(this, 'onmessage', {
        configurable: true,
        set (handler: (ev: { data: unknown }) => void) {
          setter.call(this, (ev: { data: unknown }) => {
            const frame = JSON.parse(String(ev.data))
            if (control.drop?.(frame) === true) return
            handler(ev)
          })
        }
      })
    }
  }
  return { WebSocket: TestWebSocket as typeof WebSocket, control }
}

export interface RecordingClient {
  sdk: SwitchboardClient
  events: ChatEvent[]
  control: SocketControl
  synced: number
  /** Resolves when `check` holds (polled), fails after timeoutMs. */
  until (check: () => boolean, timeoutMs?: number, what?: string): Promise<void>
}

export function recordingClient (baseUrl: string, options: Partial<ClientOptions> = {}): RecordingClient {
  const { WebSocket: WS, control } = controlledWebSocket()
  const sdk = createClient({ baseUrl, WebSocket: WS, backoff: { initialMs: 100, maxMs: 1000 }, ...options })
  const rec: RecordingClient = {
    sdk,
    events: [],
    control,
    synced: 0,
    async until (check, timeoutMs = 10_000, what = 'condition') {
      const end = Date.now() + timeoutMs
      while (!check()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(rec.events.map((e) => [e.conversationId.slice(-4), e.seq, e.type]))}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
  }
  sdk.realtime.on('event', (e) => rec.events.push(e))
  sdk.realtime.on('synced', () => { rec.synced++ })
  return rec
}
