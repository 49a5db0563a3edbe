// The `kloudak` command.
import { Command, CommanderError } from 'commander';
import { labCommands } from './lab.ts';
import { CliError, EXIT, registerCommands } from './commands/index.ts';

const program = new Command('kloudak')
  .description('Kloudak: a private cloud for Linux/KVM hosts')
  .option(
    '--config <file>',
    'CLI config file (default: $XDG_CONFIG_HOME/kloudak/config.json or ~/.config/kloudak/config.json)',
  )
  .showHelpAfterError()
  // Usage errors exit 2 (docs/cli.md), not commander's 1: set before any subcommand, which inherits it.
  .exitOverride();

// The services load lazily: the user commands start without them.
program
  .command('up')
  .description(
    'run every service in one process on the embedded backends (data under ./data or KLOUDAK_DATA_DIR), then a lab of hosts on this machine',
  )
  .option('--hosts <n>', 'lab hosts to bring up and register (two or more to see failover)', '1')
  .option('--no-lab', 'do not bring up and register the lab (also KLOUDAK_UP_LAB=0)')
  .action(async (o: { lab?: boolean; hosts?: string }) => (await import('./run.ts')).upCommand(o));

program
  .command('serve')
  .description(
    'run one service (for many machines: PostgreSQL, RabbitMQ, Redis and ZooKeeper from KLOUDAK_* settings)',
  )
  .argument('<service>', 'inventory | controller | notification | compute | network | monitoring')
  .action(async (service: string) => (await import('./run.ts')).serveCommand(service));

program
  .command('service-key')
  .description(
    "print a service's own key (KLOUDAK_SERVICE_KEY for a machine that runs only that service), from KLOUDAK_SERVICE_SECRET",
  )
  .argument('<service>', 'controller | compute | network | monitoring | notification')
  .action(async (service: string) => (await import('./run.ts')).serviceKeyCommand(service));

registerCommands(program);
labCommands(program);

const KIND_EXIT: Record<string, number> = {
  input: EXIT.usage,
  conflict: EXIT.usage,
  too_many: EXIT.usage,
  unauthenticated: EXIT.auth,
  not_allowed: EXIT.auth,
  not_found: EXIT.notFound,
  unavailable: EXIT.unavailable,
};

try {
  await program.parseAsync(process.argv);
  // Done: nothing left to wait for (a stdin still open for prompts, a room link closing).
  process.exit(EXIT.ok);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.usage);
  const err = e as Error & { kind?: string; field?: string; code?: unknown };
  const field = err.field ? ` (field: ${err.field})` : '';
  process.stderr.write(`kloudak: ${err.message}${field}\n`);
  if (e instanceof CliError) process.exit(err.code as number);
  process.exit((err.kind && KIND_EXIT[err.kind]) ?? EXIT.failed);
}
