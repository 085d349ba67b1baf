// One upload through the API (create, PUT the bytes, complete), as the SDK
// does it: shared by the attachments scenario (its large upload, timed in the
// orchestrator) and the uploaders' load generator (loadgen/uploads.ts).

async function json (res: Response): Promise<any> {
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`)
  return res.status === 204 ? null : res.json()
}

/** One upload through the API: create, PUT the bytes (a Buffer, or a stream of `size` bytes), complete. */
export async function upload (url: string, token: string, conversationId: string, size: number, body: Buffer | (() => ReadableStream<Uint8Array>), filename: string, contentType: string): Promise<unknown> {
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  const created = await json(await fetch(`${url}/v1/uploads`, { method: 'POST', headers: auth, body: JSON.stringify({ conversationId, filename, contentType, size }) }))
  const target = /^https?:/.test(created.uploadUrl as string) ? created.uploadUrl as string : url + (created.uploadUrl as string)
  const payload = Buffer.isBuffer(body) ? body : body()
  await json(await fetch(target, { method: 'PUT', headers: { ...created.headers, 'content-length': String(size) }, body: payload, duplex: 'half' } as RequestInit))
  return json(await fetch(`${url}/v1/uploads/${created.upload.id as string}/complete`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }))
}

/** `size` bytes of text, made as they are read: the client holds 1 MiB at a time. */
export function textStream (size: number): () => ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(1 << 20).fill(0x61)
  return () => {
    let left = size
    return new ReadableStream({
      pull (controller) {
        if (left <= 0) return controller.close()
        const n = Math.min(left, chunk.length)
        controller.enqueue(chunk.subarray(0, n))
        left -= n
      }
    })
  }
}
