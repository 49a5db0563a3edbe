// The `kloudak` command.
import { Command } from 'commander';
import { upCommand, serveCommand } from './run.ts';
import { labCommands } from './lab.ts';

const program = new Command('kloudak')
  .description('Kloudak: a private cloud for Linux/KVM hosts')
  .showHelpAfterError();

program
  .command('up')
  .description('run every service in one process on the embedded backends (data under ./data or KLOUDAK_DATA_DIR)')
  .action(upCommand);

program
  .command('serve')
  .description('run one service (for many machines: PostgreSQL, RabbitMQ, Redis and ZooKeeper from KLOUDAK_* settings)')
  .argument('<service>', 'inventory | controller | notification | compute | network | monitoring')
  .action(serveCommand);

labCommands(program);

await program.parseAsync(process.argv);
