export { filesEnvironment } from './config.js';
export { type FilesConfig, filesService, setupFiles } from './server.js';
