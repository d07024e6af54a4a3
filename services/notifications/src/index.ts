export { notificationsEnvironment } from './config.js';
export { migrate } from './migrate.js';
export { type NotificationsConfig, notificationsService, type Role, setupNotifications } from './server.js';
