from comicocr.cli import main

main()
