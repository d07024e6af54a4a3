export { type PipelineOptions, type PipelineStep, runPipeline, type StepResult } from './pipeline.js';
