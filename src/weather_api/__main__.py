import sys

from weather_api.cli import main

sys.exit(main())
