from aura_sentinel.cli import main

main()
