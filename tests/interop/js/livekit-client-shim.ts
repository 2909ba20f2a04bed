// What a generated contract module imports from 'livekit-client', resolved (by build.mjs)
// to the same SDK sources the harness runs, as one package would be in an app: a handler's
// RpcError must be the class the SDK's RpcServerManager checks with `instanceof`.
export { RpcError } from './node_modules/livekit-client/src/room/rpc/utils';
