// The SDK's account methods against the real server (README "Accounts and
// safety"): sessions, profile, password, export, deletion.
import { describe, expect, it } from 'vitest'
import { ApiError, createClient } from '../src/client/index.js'
import { client, register, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

describe('SDK account', () => {
  it('lists and ends sessions, changes profile and password, exports and deletes the account', async () => {
    const other = await register(api)
    const sdk = createClient({ baseUrl: server.url })
    const session = await sdk.auth.login({ username: other.user.username, password: other.password })
    const { sessions } = await sdk.account.sessions()
    expect(sessions).toHaveLength(2)
    expect(sessions.filter((s) => s.current)).toHaveLength(1)
    expect(await sdk.account.endOtherSessions()).toEqual({ ended: 1 })
    expect((await sdk.account.updateProfile({ displayName: 'Via SDK' })).displayName).toBe('Via SDK')
    await sdk.account.changePassword({ currentPassword: other.password, newPassword: 'sdk new password' })
    const exported = await sdk.account.export()
    expect(exported.profile).toMatchObject({ id: session.user.id, displayName: 'Via SDK' })
    const err = await sdk.account.deleteAccount('wrong password').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('INVALID_CREDENTIALS')
    await sdk.account.deleteAccount('sdk new password')
    expect(sdk.session).toBeNull()
    const reset = await sdk.auth.requestPasswordReset({ username: 'whoever' }).catch((e: unknown) => e)
    expect((reset as ApiError).code).toBe('MAIL_NOT_CONFIGURED')
  })
})
