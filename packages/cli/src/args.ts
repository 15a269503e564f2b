/** `portico <command> [-c config.yaml]` argument parsing (no dependency needed for this much). */
export interface CliArgs {
  command: 'start' | 'validate' | 'help';
  configPath: string;
}

export const USAGE = `usage: portico <command> [-c config.yaml]

commands:
  start       run Portico (role from deployment.role: traditional, control_plane, data_plane)
  validate    check config.yaml and exit
  help        print this text`;

export function parseArgs(argv: string[]): CliArgs {
  let command: CliArgs['command'] = 'help';
  let configPath = 'config.yaml';
  const rest = [...argv];
  const first = rest.shift();
  if (first === 'start' || first === 'validate' || first === 'help') command = first;
  else if (first !== undefined && first !== '-h' && first !== '--help') throw new Error(`unknown command: ${first}\n\n${USAGE}`);
  while (rest.length) {
    const a = rest.shift()!;
    if (a === '-c' || a === '--config') {
      const v = rest.shift();
      if (!v) throw new Error(`${a} needs a file path`);
      configPath = v;
    } else {
      throw new Error(`unknown option: ${a}\n\n${USAGE}`);
    }
  }
  return { command, configPath };
}
