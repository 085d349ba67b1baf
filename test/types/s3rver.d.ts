// The part of s3rver (an S3-compatible server for tests) that the tests use; it ships no types.
declare module 's3rver' {
  interface S3rverOptions {
    address?: string
    port?: number
    silent?: boolean
    directory: string
    configureBuckets?: Array<{ name: string, configs: Array<string | Buffer> }>
    resetOnClose?: boolean
  }
  export default class S3rver {
    constructor (options: S3rverOptions)
    run (): Promise<{ address: string, port: number }>
    close (): Promise<void>
  }
}
