// Logout racing the session's own first requests and WebSocket upgrades: the
// windows where a check that read "live" lands after the revocation it raced.
import { client, type Account } from './http.js'
import { connect, type TestSocket } from './ws.js'

export interface LogoutRaceOptions {
  /** Where logins and logouts go. */
  authUrl: string
  /** Where the racing requests and upgrades go (the same server, or another process). */
  raceUrl: string
  accounts: Account[]
  rounds: number
  /** How long an opened socket of an ended session may take to be closed. */
  closeWithinMs?: number
}

export interface LogoutRaceResult {
  logouts: number
  /** Requests made right after logout answered that still got 200 (on raceUrl). */
  answeredAfterLogout: number
  /** Ended sessions whose token still works once every racing request has finished. */
  stillWorking: number
  socketsOpened: number
  /** Sockets of an ended session still open after closeWithinMs. */
  socketsLeftOpen: number
  /** Close codes other than 4001 seen by sockets of ended sessions. */
  otherCloseCodes: number[]
  /** Racing requests or upgrades answered with something other than 200/401. */
  unexpected: string[]
}

/** Two upgraders per session: 6 sockets, and 6 more of its previous round still closing, under WS_MAX_CONNECTIONS_PER_USER (20). */
const KEEP_PER_UPGRADER = 3

const jitter = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 4))

export async function raceLogouts (opts: LogoutRaceOptions): Promise<LogoutRaceResult> {
  const auth = client(opts.authUrl)
  const race = client(opts.raceUrl)
  const result: LogoutRaceResult = { logouts: 0, answeredAfterLogout: 0, stillWorking: 0, socketsOpened: 0, socketsLeftOpen: 0, otherCloseCodes: [], unexpected: [] }
  const sockets: TestSocket[] = []
  const ended: string[] = []

  async function round (account: Account) {
    const login = await auth.post('/v1/auth/login', { username: account.user.username, password: account.password })
    if (login.status !== 200) throw new Error(`login: ${login.status}`)
    const { accessToken, refreshToken } = login.body as { accessToken: string, refreshToken: string }
    // The session's first requests and upgrades keep coming until its logout
    // has answered, so that some of them are checked while it commits.
    let answered = false
    const racers = [
      ...[0, 1].map(async () => {
        // Each upgrader keeps its last few sockets only: on a loaded machine a
        // slow logout would otherwise let the session reach its sockets-per-user
        // limit (429), and the upgrades racing the logout would all be refused
        // before any check of the session. Those closed here were opened while
        // it was live; the ones kept are the ones that raced the logout.
        const mine: TestSocket[] = []
        while (!answered) {
          try {
            mine.push(await connect(opts.raceUrl, accessToken))
            if (mine.length > KEEP_PER_UPGRADER && !answered) await mine.shift()?.close()
          } catch (err) {
            const status = (err as { statusCode?: number }).statusCode
            if (status !== 401) result.unexpected.push(`upgrade: ${status ?? (err as Error).message}`)
          }
        }
        sockets.push(...mine)
      }),
      ...[0, 1, 2].map(async () => {
        while (!answered) {
          const res = await race.get('/v1/me', { token: accessToken })
          if (res.status !== 200 && res.status !== 401) result.unexpected.push(`GET /v1/me: ${res.status}`)
        }
      })
    ]
    await jitter()
    const logout = await auth.post('/v1/auth/logout', { refreshToken })
    answered = true
    if (logout.status !== 204) throw new Error(`logout: ${logout.status}`)
    result.logouts++
    if ((await race.get('/v1/me', { token: accessToken })).status === 200) result.answeredAfterLogout++
    await Promise.all(racers)
    ended.push(accessToken)
  }

  for (let i = 0; i < opts.rounds; i++) await Promise.all(opts.accounts.map(round))

  for (const token of ended) if ((await race.get('/v1/me', { token })).status === 200) result.stillWorking++
  result.socketsOpened = sockets.length
  const within = opts.closeWithinMs ?? 10_000
  await Promise.all(sockets.map(async (s) => {
    const closed = await Promise.race([s.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), within))])
    if (closed === undefined) {
      result.socketsLeftOpen++
      s.ws.terminate()
    } else if (closed.code !== 4001) {
      result.otherCloseCodes.push(closed.code)
    }
  }))
  return result
}
