from lsec.cli import main

main()
