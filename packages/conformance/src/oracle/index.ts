export { embed } from './embed.js';
export { rmsnorm } from './rmsnorm.js';
export { matmul } from './matmul.js';
export { rope, ropeInvFreq } from './rope.js';
export { attention, kvStore } from './attention.js';
export { add, siluMul } from './elementwise.js';
export { argmax, lastRow } from './rows.js';
export { sample, sampleDistribution, type SampleDistribution } from './sample.js';
export { OracleMachine } from './machine.js';
