/* A shared object that is not a wsd plugin: no wsd_plugin symbol. */
int not_a_plugin(void);

int
not_a_plugin(void)
{
	return 1;
}
