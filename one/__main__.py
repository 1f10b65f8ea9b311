from one._cli import main

main()
