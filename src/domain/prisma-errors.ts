// Recognises database failures by their codes, whether they come from Prisma
// (P-codes, driver adapter errors) or from the pg driver directly.
interface MaybeDbError { code?: unknown, cause?: unknown, meta?: unknown, kind?: unknown, originalCode?: unknown }

function* chain (err: unknown): Generator<MaybeDbError> {
  const seen = new Set<unknown>()
  let cur: unknown = err
  while (cur !== null && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur)
    yield cur as MaybeDbError
    const e = cur as MaybeDbError & { meta?: { driverAdapterError?: unknown } }
    cur = e.cause ?? e.meta?.driverAdapterError
  }
}

export function isUniqueViolation (err: unknown): boolean {
  for (const e of chain(err)) {
    if (e.code === 'P2002' || e.code === '23505' || e.kind === 'UniqueConstraintViolation' || e.originalCode === '23505') return true
  }
  return false
}

/**
 * SQLSTATE class 22 (data exception): a value the statement cannot take, such
 * as a malformed uuid or an invalid byte sequence. The input's fault, not the server's.
 */
export function isDataException (err: unknown): boolean {
  for (const e of chain(err)) {
    const code = typeof e.code === 'string' ? e.code : typeof e.originalCode === 'string' ? e.originalCode : ''
    if (/^22[0-9A-Z]{3}$/.test(code)) return true
  }
  return false
}

// Connection refused/reset, pool timeouts, server shutting down or not
// accepting connections (SQLSTATE classes 08 and 57P).
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'P1001', 'P1002', 'P1017', 'P2024'])
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'DatabaseDoesNotExist', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections'])
// Also Prisma's P2028 when no connection came in time for a transaction (the pool is busy: overload, not a fault).
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection (?:is )?(?:closed|terminated)|Can't reach database server|Unable to start a transaction in the given time/i

export function isDatabaseUnavailable (err: unknown): boolean {
  for (const e of chain(err)) {
    const code = typeof e.code === 'string' ? e.code : typeof e.originalCode === 'string' ? e.originalCode : ''
    if (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('57P')) return true
    if (typeof e.kind === 'string' && UNAVAILABLE_KINDS.has(e.kind)) return true
    if (e instanceof Error && UNAVAILABLE_MESSAGES.test(e.message)) return true
  }
  return false
}

/** A statement cancelled by statement_timeout (SQLSTATE 57014), through Prisma or from pg. */
export function isStatementTimeout (err: unknown): boolean {
  for (const e of chain(err)) {
    if (e.code === '57014' || e.originalCode === '57014') return true
  }
  return false
}

/** A hot standby cancelled the statement: the WAL it replays conflicted with it (SQLSTATE 40001 there). */
export function isRecoveryConflict (err: unknown): boolean {
  for (const e of chain(err)) {
    const code = typeof e.code === 'string' ? e.code : typeof e.originalCode === 'string' ? e.originalCode : ''
    if (code === '40001' || /conflict with recovery/i.test(String((e as { message?: unknown }).message ?? ''))) return true
  }
  return false
}
