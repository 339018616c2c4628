// The official ali-oss client (6.23) pointed at a test server: V1 signatures by default, V4 on request.
// ali-oss's V1 signing refuses IP endpoints, so such servers are started with hostname 'localhost'.
import OSS from 'ali-oss';

export interface OssCredentials {
  ak: string;
  secret: string;
}

export function ossClient(endpoint: string, credentials: OssCredentials, bucket: string, options: { v4?: boolean } = {}): OSS {
  return new OSS({
    accessKeyId: credentials.ak,
    accessKeySecret: credentials.secret,
    bucket,
    endpoint,
    region: 'oss-cn-hangzhou',
    sldEnable: true,
    authorizationV4: options.v4 ?? false,
    timeout: 30_000,
  });
}

/** ali-oss's generic signed request, for the OSS calls it has no method for (bucket styles, saveas by hand). */
export type SignedRequester = { request(params: Record<string, unknown>): Promise<{ status: number; data?: Buffer; res: { status: number } }> };
