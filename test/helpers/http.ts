// A small HTTP client over fetch for tests: JSON in, JSON out.
import { randomBytes } from 'node:crypto'

export interface Response<T = any> { status: number, headers: Headers, body: T }

export interface RequestOptions {
  body?: unknown
  rawBody?: string | Uint8Array
  token?: string
  headers?: Record<string, string>
}

export function client (baseUrl: string) {
  async function request<T = any> (method: string, path: string, opts: RequestOptions = {}): Promise<Response<T>> {
    const headers: Record<string, string> = { ...opts.headers }
    let body: string | Uint8Array | undefined
    if (opts.rawBody !== undefined) {
      body = opts.rawBody
      headers['content-type'] ??= 'application/json'
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body)
      headers['content-type'] = 'application/json'
    }
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
    const res = await fetch(baseUrl + path, { method, headers, body })
    const text = await res.text()
    let parsed: unknown = text
    if (text !== '' && (res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text)
    return { status: res.status, headers: res.headers, body: parsed as T }
  }
  return {
    request,
    get: <T = any>(path: string, opts?: RequestOptions) => request<T>('GET', path, opts),
    post: <T = any>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('POST', path, { ...opts, body }),
    patch: <T = any>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('PATCH', path, { ...opts, body }),
    put: <T = any>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('PUT', path, { ...opts, body }),
    del: <T = any>(path: string, opts?: RequestOptions) => request<T>('DELETE', path, opts)
  }
}

export type Client = ReturnType<typeof client>

export interface Account {
  user: { id: string, username: string, displayName: string, createdAt: string }
  accessToken: string
  refreshToken: string
  password: string
}

export const uniqueName = (prefix = 'u') => `${prefix}${randomBytes(5).toString('hex')}`

export async function register (api: Client, username = uniqueName(), password = 'correct horse battery'): Promise<Account> {
  const res = await api.post('/v1/auth/register', { username, password, displayName: username })
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`)
  return { ...res.body, password }
}

export function expectError (res: Response, status: number, code: string) {
  if (res.status !== status || res.body?.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`)
  }
  const keys = Object.keys(res.body).sort()
  if (keys.join(',') !== 'code,error,message,statusCode' || res.body.statusCode !== status) {
    throw new Error(`error body shape: ${JSON.stringify(res.body)}`)
  }
}
