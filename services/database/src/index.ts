export { databaseEnvironment } from './config.js';
export { type DatabaseConfig, databaseService, setupDatabase } from './server.js';
