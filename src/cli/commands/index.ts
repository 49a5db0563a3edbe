// Registers the user and operator commands (docs/cli.md) on the `kloudak` program.
import type { Command } from 'commander';
import { authCommands } from './auth.ts';
import { keyCommands } from './keys.ts';
import { networkCommands } from './networks.ts';
import { operatorCommands } from './operator.ts';
import { securityGroupCommands } from './secgroups.ts';
import { quotaCommands } from './quotas.ts';
import { taskCommands } from './tasks.ts';
import { vmCommands } from './vms.ts';
import { invitationCommands, workspaceCommands } from './workspaces.ts';

export { CliError, EXIT } from './client.ts';

export function registerCommands(program: Command): void {
  authCommands(program);
  workspaceCommands(program);
  invitationCommands(program);
  quotaCommands(program);
  vmCommands(program);
  keyCommands(program);
  networkCommands(program);
  securityGroupCommands(program);
  taskCommands(program);
  operatorCommands(program);
}
