/** The NDIS runtime (lib/ndis): exports only. Reading order and the map of files: README.md. */
export { CondisError } from '../errors';
export * from './actors';
export * from './call-parameters';
export * from './clock';
export * from './drain';
export * from './errors';
export * from './mailbox';
export * from './nbl';
export * from './ndis';
export * from './offload';
export * from './scheduler';
export * from './status';
export * from './trace';
export * from './vc-states';
export * from './verifier';
