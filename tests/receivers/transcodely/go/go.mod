module transcodely-receiver

go 1.19
