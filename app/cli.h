/*
 * cli.h — administration from the command line, for bootstrap and scripts:
 *
 *   guichet org add --name N --kind K [--siren S] [--departements 31,34]
 *                   [--communes 31555,...]
 *   guichet user add --email E --name N --org NAME|ID --role R [--service]
 *                    [--departements ...] [--communes ...]
 *       the password is read from standard input (first line); --service
 *       accounts have none
 *   guichet user passwd EMAIL      new password from standard input
 *   guichet demo                   demo organisations and accounts, once
 *   guichet routes                 the route table as JSON
 */
#ifndef GUICHET_CLI_H
#define GUICHET_CLI_H

int	 cli_org(int argc, char **argv);
int	 cli_user(int argc, char **argv);
int	 cli_demo(void);
int	 cli_routes(void);

#endif
