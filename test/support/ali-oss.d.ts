// The parts of ali-oss (CommonJS, no bundled types) the security tests use.
declare module 'ali-oss' {
  interface OSSOptions {
    accessKeyId: string;
    accessKeySecret: string;
    bucket?: string;
    endpoint?: string;
    region?: string;
    sldEnable?: boolean;
    authorizationV4?: boolean;
    secure?: boolean;
    timeout?: number;
  }
  interface Result {
    res: { status: number; headers: Record<string, string> };
    content?: Buffer;
  }
  class OSS {
    constructor(options: OSSOptions);
    signatureUrl(name: string, options?: Record<string, unknown>): string;
    signatureUrlV4(method: string, expires: number, request?: { headers?: Record<string, string>; queries?: Record<string, unknown> }, objectName?: string, additionalHeaders?: string[]): Promise<string>;
    get(name: string, options?: Record<string, unknown>): Promise<Result>;
    head(name: string, options?: Record<string, unknown>): Promise<Result>;
    put(name: string, file: Buffer, options?: Record<string, unknown>): Promise<Result>;
  }
  export default OSS;
}
