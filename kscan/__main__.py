from kscan.cli import main

main()
