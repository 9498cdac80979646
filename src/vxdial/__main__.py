from vxdial.cli import main

main()
