from casestudy.cli.main import cli

cli()
