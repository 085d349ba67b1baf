// The grace period and arrivals of presence (realtime/local-presence.ts), which
// both presence implementations share: who comes online and goes offline when
// sockets close, reopen, and take longer than the grace period to open. The
// same over real sockets: test/realtime-robustness.test.ts ("presence").
import { describe, expect, it } from 'vitest'
import { LocalPresence } from '../src/realtime/local-presence.js'

const GRACE = 30
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function tracked () {
  const changes: string[] = []
  const presence = new LocalPresence(GRACE, {
    online: (userId) => changes.push(`${userId} online`),
    offline: (userId) => changes.push(`${userId} offline`)
  })
  return { presence, changes }
}

describe('local presence', () => {
  it('a reconnect within the grace period changes nothing; the last socket closing takes the user offline after it', async () => {
    const { presence, changes } = tracked()
    presence.connected('u')
    presence.connected('u')
    presence.disconnected('u')
    presence.disconnected('u')
    presence.connected('u')
    await sleep(GRACE * 3)
    expect(changes).toEqual(['u online'])
    presence.disconnected('u')
    expect(presence.has('u')).toBe(true)
    await sleep(GRACE * 3)
    expect(changes).toEqual(['u online', 'u offline'])
    expect(presence.has('u')).toBe(false)
  })

  it('arrivals under way past the grace period keep the user online until the last of them ends', async () => {
    const { presence, changes } = tracked()
    presence.connected('u')
    presence.disconnected('u')
    const first = presence.arriving('u')
    const second = presence.arriving('u')
    await sleep(GRACE * 3)
    expect(presence.has('u')).toBe(true)
    expect(presence.users()).toEqual(['u'])
    first() // refused
    first() // a second call does nothing
    expect(changes).toEqual(['u online'])
    // The other one opened: nobody saw the user leave or come back.
    presence.connected('u')
    second()
    expect(changes).toEqual(['u online'])

    presence.disconnected('u')
    const refused = presence.arriving('u')
    await sleep(GRACE * 3)
    expect(changes).toEqual(['u online'])
    refused()
    expect(changes).toEqual(['u online', 'u offline'])
    expect(presence.has('u')).toBe(false)
  })

  it('an arrival is not presence: a user who was not online comes online only when a socket opens', async () => {
    const { presence, changes } = tracked()
    const arrived = presence.arriving('v')
    expect(presence.has('v')).toBe(false)
    arrived()
    await sleep(GRACE * 3)
    expect(changes).toEqual([])
    const again = presence.arriving('v')
    presence.connected('v')
    again()
    expect(changes).toEqual(['v online'])
  })
})
