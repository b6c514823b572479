from kscan.cli import run

run()
